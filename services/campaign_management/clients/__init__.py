"""Clients of what campaign_management talks to: Mautic, and its peers in the fleet."""
