"""One router per resource: predict, feedback, model, ops."""
