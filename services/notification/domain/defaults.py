"""The platform's default templates, by key and locale: what a tenant gets until it saves its own
(a tenant's template of the same key and locale wins; a locale falls back fr-CA -> fr -> default).
Parts are Jinja2 sources (subject, text, html, sms, push_title, push_body); HTML is autoescaped."""

from __future__ import annotations

PLATFORM_TEMPLATES: dict[str, dict[str, dict[str, str]]] = {
    "welcome": {
        "default": {
            "subject": "Welcome to BizOSaaS, {{ full_name }}",
            "text": "Hello {{ full_name }},\n\n{{ tenant_name }} is ready. Connect your ad accounts and"
            " launch your first campaign.\n",
            "html": "<p>Hello {{ full_name }},</p><p><strong>{{ tenant_name }}</strong> is ready. Connect your ad"
            " accounts and launch your first campaign.</p>",
            "push_title": "Welcome to BizOSaaS",
            "push_body": "{{ tenant_name }} is ready.",
        },
        "fr": {
            "subject": "Bienvenue sur BizOSaaS, {{ full_name }}",
            "text": "Bonjour {{ full_name }},\n\n{{ tenant_name }} est prêt.\n",
            "html": "<p>Bonjour {{ full_name }},</p><p><strong>{{ tenant_name }}</strong> est prêt.</p>",
            "push_title": "Bienvenue sur BizOSaaS",
            "push_body": "{{ tenant_name }} est prêt.",
        },
    },
    "invitation": {
        "default": {
            "subject": "You are invited to BizOSaaS",
            "text": "Hello {{ full_name }},\n\nYou were invited as {{ role }}. Accept here (valid until"
            " {{ expires_at }}):\n{{ invitation_url }}\n",
            "html": "<p>Hello {{ full_name }},</p><p>You were invited as {{ role }}.</p>"
            '<p><a href="{{ invitation_url }}">Accept the invitation</a> (valid until {{ expires_at }}).</p>',
        }
    },
    "security_locked": {
        "default": {
            "subject": "Your account was locked after failed sign-ins",
            "text": "Too many failed sign-ins: your account is locked until {{ locked_until }}. If this was"
            " not you, change your password.\n",
            "html": "<p>Too many failed sign-ins: your account is locked until {{ locked_until }}.</p>"
            "<p>If this was not you, change your password.</p>",
            "sms": "BizOSaaS: your account is locked until {{ locked_until }} after failed sign-ins.",
            "push_title": "Account locked",
            "push_body": "Locked until {{ locked_until }} after failed sign-ins.",
        }
    },
    "campaign_launched": {
        "default": {
            "subject": "Campaign launched: {{ name }}",
            "text": "{{ name }} is live on {{ channels | join(', ') }}.\n",
            "html": "<p><strong>{{ name }}</strong> is live on {{ channels | join(', ') }}.</p>",
            "push_title": "Campaign launched",
            "push_body": "{{ name }} is live.",
        }
    },
    "campaign_completed": {
        "default": {
            "subject": "Campaign completed: {{ name or campaign_id }}",
            "text": "{{ name or campaign_id }} has completed ({{ reason }}).\n",
            "html": "<p><strong>{{ name or campaign_id }}</strong> has completed ({{ reason }}).</p>",
        }
    },
    "kpi_alert": {
        "default": {
            "subject": "KPI alert: {{ kpi }} is {{ value }}",
            "text": "{{ kpi }} of campaign {{ campaign_id }} is {{ value }} ({{ rule }}).\n",
            "html": "<p><strong>{{ kpi }}</strong> of campaign {{ campaign_id }} is {{ value }} ({{ rule }}).</p>",
            "push_title": "KPI alert",
            "push_body": "{{ kpi }} is {{ value }}",
        }
    },
    "report_ready": {
        "default": {
            "subject": "Your report is ready",
            "text": "Your {{ format }} report is ready: {{ download_url }}\n",
            "html": '<p>Your {{ format }} report is ready: <a href="{{ download_url }}">download it</a>.</p>',
        }
    },
    "sync_failed": {
        "default": {
            "subject": "A {{ provider }} sync failed",
            "text": "The {{ provider }} connection could not sync: {{ error }}.{% if needs_reauth %} Connect it"
            " again.{% endif %}\n",
            "html": "<p>The {{ provider }} connection could not sync: {{ error }}.</p>"
            "{% if needs_reauth %}<p>Connect it again.</p>{% endif %}",
        }
    },
    "payment_failed": {
        "default": {
            "subject": "A payment failed",
            "text": "The payment for your {{ plan or 'current' }} plan failed ({{ reason or 'declined' }}).\n",
            "html": "<p>The payment for your {{ plan or 'current' }} plan failed ({{ reason or 'declined' }}).</p>",
        }
    },
    "ai_task_completed": {
        "default": {
            "subject": "AI task finished: {{ type }}",
            "text": "{{ summary }}\n",
            "html": "<p>{{ summary }}</p>",
            "push_title": "AI task finished",
            "push_body": "{{ type }}",
        }
    },
    "digest": {
        "default": {
            "subject": "{{ count }} new {{ category }} notifications",
            "text": "{% for item in items %}- {{ item.subject }}\n{% endfor %}",
            "html": "<ul>{% for item in items %}<li>{{ item.subject }}</li>{% endfor %}</ul>",
        }
    },
}
