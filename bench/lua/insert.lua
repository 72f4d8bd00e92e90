-- bench/lua/insert.lua: single-row autocommit INSERTs for bench/writes.sh (sysbench 1.0).
--
--   sysbench bench/lua/insert.lua --mysql-host=... --mysql-port=... [--consistency=STRONG] prepare|run|cleanup
--
-- prepare: CREATE TABLE IF NOT EXISTS bench_writes (run it directly on the primary).
-- run:     each thread connects once; when --consistency is set it first runs
--          SET myquorum_consistency='<value>' (myquorum intercepts it; do not set it against
--          plain MariaDB or haproxy), then every event is one
--          INSERT INTO bench_writes(k, pad) VALUES (<random k>, '<random pad>'), autocommit.
--          One event = one INSERT, so sysbench's "transactions per sec" is inserts per second
--          and its latency figures are per-INSERT round trips.
-- cleanup: DROP TABLE IF EXISTS bench_writes.

sysbench.cmdline.options = {
    consistency = {"if set, SET myquorum_consistency to this at connect (EVENTUAL, STRONG, CAUSAL)", ""},
    k_max = {"k is uniform in [1, k_max]", 1000000},
    table_name = {"table to insert into", "bench_writes"},
}

local PAD_FMT = "###########-###########-###########-###########-###########"

local function create_table(con)
    con:query(string.format([[
CREATE TABLE IF NOT EXISTS %s (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  k INT UNSIGNED NOT NULL,
  pad CHAR(60) NOT NULL,
  KEY k_idx (k)
) ENGINE=InnoDB]], sysbench.opt.table_name))
end

function prepare()
    local drv = sysbench.sql.driver()
    local con = drv:connect()
    create_table(con)
    con:disconnect()
end

function cleanup()
    local drv = sysbench.sql.driver()
    local con = drv:connect()
    con:query("DROP TABLE IF EXISTS " .. sysbench.opt.table_name)
    con:disconnect()
end

function thread_init()
    drv = sysbench.sql.driver()
    con = drv:connect()
    local c = sysbench.opt.consistency
    if c ~= nil and c ~= "" then
        if not c:match("^[A-Za-z]+$") then
            error("bad --consistency value: " .. c)
        end
        con:query("SET myquorum_consistency='" .. c:upper() .. "'")
    end
    insert_fmt = "INSERT INTO " .. sysbench.opt.table_name .. "(k, pad) VALUES (%d, '%s')"
    k_max = tonumber(sysbench.opt.k_max)
end

function event()
    con:query(string.format(insert_fmt, sysbench.rand.default(1, k_max),
                            sysbench.rand.string(PAD_FMT)))
end

function thread_done()
    con:disconnect()
end
