"""sf.reports — the HTML pages: one company's fiche and the month's operations report (data gathering and rendering)."""
