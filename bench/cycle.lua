-- wrk script: Bearer tokens taken in turn from the file named by TOKENS_FILE (one per line),
-- the threads interleaved so that every token is used once per pass. WRK_THREADS must be
-- wrk's -t.
local counter = 0

function setup(thread)
    counter = counter + 1
    thread:set("id", counter)
end

function init(args)
    tokens = {}
    for line in io.lines(os.getenv("TOKENS_FILE")) do
        if #line > 0 then
            tokens[#tokens + 1] = "Bearer " .. line
        end
    end
    step = tonumber(os.getenv("WRK_THREADS") or "1")
    index = id
end

function request()
    local header = tokens[index]
    index = index + step
    if index > #tokens then
        index = index - #tokens
    end
    return wrk.format("GET", nil, { Authorization = header })
end
