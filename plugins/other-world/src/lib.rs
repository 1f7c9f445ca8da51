//! other-world: a valid component that exports `greet` instead of `run`, so
//! the host must reject it as not fitting the plugin world.

wit_bindgen::generate!({
    inline: "
        package example:greeter;

        world greeter {
            export greet: func(name: string) -> string;
        }
    ",
});

struct Greeter;

impl Guest for Greeter {
    fn greet(name: String) -> String {
        format!("hello, {name}")
    }
}

export!(Greeter);
