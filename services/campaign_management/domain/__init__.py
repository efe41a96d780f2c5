"""The rules of campaigns and funnels, free of frameworks: lifecycle, budgets, the Mautic
mapping of a funnel, and keyset cursors."""
