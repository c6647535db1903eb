-- Members become events of their own again, under the ids they were told by
-- (their fact is that id: unique, as each was one event).
INSERT INTO events (id, batch_id, account_id, type, created_at, release_id, installation_id, payload_id, fact)
SELECT event_groups.id || lpad(to_hex(event_members.ordinal), 8, '0'), event_groups.batch_id,
       event_members.account_id, event_groups.type, event_groups.created_at, event_groups.release_id,
       event_members.installation_id, event_groups.payload_id,
       event_groups.id || lpad(to_hex(event_members.ordinal), 8, '0')
FROM event_members INNER JOIN event_groups ON event_groups.id = event_members.group_id;
DROP TABLE event_members;
DROP TABLE event_groups;
