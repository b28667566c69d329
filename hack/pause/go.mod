module quantops.local/pause

go 1.22
