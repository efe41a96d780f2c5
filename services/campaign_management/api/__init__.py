"""HTTP routes of campaign_management: parse, authorize, call a use case, shape the answer."""

from services.campaign_management.api import campaigns, funnels, recommendations

ROUTERS = (campaigns.router, recommendations.router, funnels.router)
