"""Policy-as-code: CEL rules over facts from the trail, signed decisions, reviews, gates."""
