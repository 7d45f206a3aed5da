-- wrk script: every request has a path of its own (/api/items/<thread>-<n>), with the headers
-- given by -H; for what a record per request costs where nothing repeats.
local counter = 0

function setup(thread)
    counter = counter + 1
    thread:set("id", counter)
end

function init(args)
    n = 0
end

function request()
    n = n + 1
    return wrk.format("GET", "/api/items/" .. id .. "-" .. n)
end
