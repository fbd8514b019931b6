"""sf.synth — synthetic monthly deliveries in the real file formats and their truth (used by `sf synth`, `sf demo` and tests only)."""
