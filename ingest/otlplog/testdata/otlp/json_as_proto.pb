{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}}]},
 "scopeLogs":[{"scope":{"name":"my.library","version":"1.0.0"},
 "logRecords":[{"timeUnixNano":1544712660300000000,"observedTimeUnixNano":1544712660300000000,"severityText":"Information","traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","body":{"stringValue":"Example log record"},
 "attributes":[{"key":"string.attribute","value":{"stringValue":"some string"}},{"key":"int.attribute","value":{"intValue":10}}]}]}]}]}
