"""sf.model — the model on the monthly features: training, scoring, evaluation, alerts, explanations by theme, the saved model and the Scores collection."""
