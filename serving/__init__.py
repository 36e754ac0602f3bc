"""What TF Serving and its clients see: exported signatures and the serving layout."""
