"""Lesson 01: a first look at tokens."""

print("the cat sat".split())
