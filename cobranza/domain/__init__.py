"""Pure domain logic: money, phones, geography, delinquency. No I/O."""
