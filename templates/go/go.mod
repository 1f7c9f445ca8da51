module lazyhost.dev/plugins/{{name}}

go 1.24
