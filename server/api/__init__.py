"""HTTP controllers, one module per area."""
