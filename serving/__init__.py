"""What a TF Serving client needs: the REST and gRPC client, its errors, and requests
built from raw records. Nothing here imports training code."""
