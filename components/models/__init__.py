"""Model builders, one module per architecture named in a domain config."""
