"""sf.features"""
