"""sf.compaction"""
