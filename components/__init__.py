"""What every domain shares: preprocessing, models, training, evaluation, custom components."""
