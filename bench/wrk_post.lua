-- wrk script for bench/load.py: POST each request of a prepared file once, in order.
--
--   wrk -t1 -c16 -d5s -s bench/wrk_post.lua http://127.0.0.1:PORT -- FILE PATH
--
-- FILE holds one request per line: "<X-Hub-Signature-256 value or empty>\t<JSON body>".
-- The script counts answers that are not 200 and requests sent after the file ran out
-- (it starts over: the caller treats that as an error, since each body must be new), and
-- prints one line "WRK_RESULT {json}" with the totals and 1,000 latency quantiles
-- (microseconds, from wrk's own statistics), so that runs can be merged.

-- Globals, not locals: done() reads each thread's counters with thread:get().
sent, not_200, reused = 0, 0, 0
local requests, threads = {}, {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file, path = args[1], args[2]
  for line in io.lines(file) do
    local tab = line:find("\t", 1, true)
    local signature, body = line:sub(1, tab - 1), line:sub(tab + 1)
    local headers = { ["Content-Type"] = "application/json" }
    if signature ~= "" then
      headers["X-Hub-Signature-256"] = signature
    end
    requests[#requests + 1] = wrk.format("POST", path, headers, body)
  end
end

function request()
  sent = sent + 1
  if sent > #requests then
    reused = reused + 1
    return requests[(sent - 1) % #requests + 1]
  end
  return requests[sent]
end

function response(status, headers, body)
  if status ~= 200 then
    not_200 = not_200 + 1
  end
end

function done(summary, latency, _)
  local bad, again = 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("not_200")
    again = again + thread:get("reused")
  end
  -- wrk's Lua side gives percentiles, not its histogram: a thousand of them (0.1 % apart)
  -- let the caller merge runs made side by side to within 0.1 % of rank.
  local quantiles = {}
  for q = 1, 999 do
    quantiles[q] = string.format("%d", latency:percentile(q / 10))
  end
  quantiles[1000] = string.format("%d", latency.max)  -- wrk's percentile(100) answers 0
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"not_200":%d,"reused":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"quantiles_us":[%s]}\n',
    summary.requests, summary.duration, bad, again,
    e.connect, e.read, e.write, e.timeout, table.concat(quantiles, ",")))
end
