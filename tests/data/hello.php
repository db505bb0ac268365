<?php
header("X-Test: captured");
echo "hello from php ", $_SERVER["QUERY_STRING"], "\n";
error_log("a line on stderr");
