"""DynamoDB access: one table, discriminated pynamodb models (see infra/README.md for the design)."""
