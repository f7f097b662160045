"""Trainyard training service for Hugging Face transformers image classification."""
