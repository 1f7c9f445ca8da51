//! unknown-import: a plugin of the lazyhost world that also imports
//! `example:vault/keys`, an interface lazyhost does not provide, so the
//! host must reject it when it loads the component.

wit_bindgen::generate!({
    inline: "
        package example:vault;

        interface keys {
            fetch: func(name: string) -> string;
        }

        world plugin-with-vault {
            include lazyhost:plugin/plugin@1.1.0;
            import keys;
        }
    ",
    path: "../../wit",
    generate_all,
});

struct UnknownImport;

impl Guest for UnknownImport {
    fn run(cluster: String, _args: Vec<(String, String)>) -> Result<String, String> {
        // The call keeps the import in the component.
        let key = example::vault::keys::fetch(&cluster);
        Ok(format!(r#"{{"key_bytes":{}}}"#, key.len()))
    }
}

export!(UnknownImport);
