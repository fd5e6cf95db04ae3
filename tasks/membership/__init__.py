"""Membership: was a text in a dataset (n-gram sketch) or in a model's training data (Min-K% Prob)?"""
