-- wrk script: batches of 100 canonical events per request.
--   wrk -t2 -c16 -d15s -s scripts/bench/ingest-batch100.lua http://127.0.0.1:8080
-- events/s = requests/s x 100
wrk.method = "POST"
wrk.path = "/v1/events"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  local items = {}
  for i = 1, 100 do
    n = n + 1
    items[i] = string.format(
      '{"type":"stock.updated","entity":{"type":"stock","id":"SKU-%d"},"data":{"qty":%d}}', n % 10000, n % 50)
  end
  return wrk.format(nil, nil, nil, '{"events":[' .. table.concat(items, ",") .. ']}')
end
response = function(status, headers, body)
  if status ~= 202 then
    io.stderr:write("unexpected status " .. status .. "\n")
  end
end
