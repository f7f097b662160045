"""Trainyard training service for Ultralytics YOLO (detect, segment, pose, classify)."""
