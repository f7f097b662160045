"""Trainyard training service for timm image classification."""
