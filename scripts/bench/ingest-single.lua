-- wrk script: one canonical event per request, entity ids spread over 10,000
-- orders. Used for the ingest figures in docs/benchmarks.md:
--   wrk -t2 -c128 -d15s -s scripts/bench/ingest-single.lua http://127.0.0.1:8080
wrk.method = "POST"
wrk.path = "/v1/events"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local body = string.format(
    '{"type":"order.updated","entity":{"type":"order","id":"%d"},"data":{"status":"processing","total":%d.90}}',
    n % 10000, n % 500)
  return wrk.format(nil, nil, nil, body)
end
response = function(status, headers, body)
  if status ~= 202 then
    io.stderr:write("unexpected status " .. status .. "\n")
  end
end
