module lazyhost.dev/plugins/node-capacity

go 1.24
