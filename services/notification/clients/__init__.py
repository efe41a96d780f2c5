"""Channel clients (SMTP, Twilio-shaped SMS, Web Push) that turn provider failures into DeliveryError."""
