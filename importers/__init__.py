"""sf.importers"""
