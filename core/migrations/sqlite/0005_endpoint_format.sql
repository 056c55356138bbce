-- What an endpoint receives: the signed envelope (`json`) or a Slack or Discord message.
ALTER TABLE webhook_endpoints ADD COLUMN format TEXT NOT NULL DEFAULT 'json'
    CHECK (format IN ('json', 'slack', 'discord'));

-- Endpoints registered before formats existed get what their URL calls for, as new ones
-- do; Slack and Discord refused the envelope anyway.
UPDATE webhook_endpoints SET format = 'slack'
    WHERE url LIKE 'https://hooks.slack.com/services/%';
UPDATE webhook_endpoints SET format = 'discord'
    WHERE url LIKE 'https://discord.com/api/webhooks/%'
       OR url LIKE 'https://discordapp.com/api/webhooks/%';
