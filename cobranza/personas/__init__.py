"""Persona profiles (persona_profiles/*.yml), the engine that assigns them, and the offers
they allow."""
