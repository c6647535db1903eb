DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoint_event_types;
DROP TABLE webhook_endpoints;
DROP TABLE events;
DROP TABLE event_batches;
DROP TABLE event_counter;
DROP TABLE event_payloads;
