from cobranza.console.server import main

main()
