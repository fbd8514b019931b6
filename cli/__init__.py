"""sf.cli"""
