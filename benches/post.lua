-- wrk script for benches/delivery_drain.sh: POSTs a webhook-sized JSON body,
-- signed-looking like a delivery, to the receiver.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["webhook-id"] = "evt_019ae0c1a2b3000000000000000000aa"
wrk.headers["webhook-timestamp"] = "1796169600"
wrk.headers["webhook-signature"] = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
wrk.body = [[{"id":"evt_019ae0c1a2b3000000000000000000aa","type":"installation.updated","created_at":"2026-12-02T05:00:00Z","data":{"release_id":"019ae0c1-a2b3-7000-8000-000000000001","integration_pack_id":"019ae0c1-a2b3-7000-8000-000000000002","schedule":"immediately","outcome":"applied","versions":[{"component_id":"019ae0c1-a2b3-7000-8000-000000000003","name":"Orders","version":"2.0"}],"previous_release_id":"019ae0c1-a2b3-7000-8000-000000000004","previous_versions":[{"component_id":"019ae0c1-a2b3-7000-8000-000000000003","name":"Orders","version":"1.0"}],"installation_id":"019ae0c1-a2b3-7000-8000-000000000005","account_id":"019ae0c1-a2b3-7000-8000-000000000006"}}]]
