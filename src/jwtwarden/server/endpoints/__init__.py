"""HTTP endpoints, thin: parse the request, call the service, write the
response. Each module is one group of the contract in DESIGN.md."""
