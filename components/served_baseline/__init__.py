"""The version being served, as the model the Evaluator judges a new one against."""
