"""engagebot: volunteer offers and events for an engaged city, in every resident's language."""
