//! One column definition of a `Table` (`meta.k8s.io/v1` `TableColumnDefinition`) and the columns
//! most kinds share: the object's name, its age, and the containers of a pod template.

use serde_json::{Value, json};

/// A column as kube-apiserver declares it. kubectl upper-cases `name` for the header and shows
/// priority-0 columns always, priority-1 columns only with `-o wide`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Column {
    pub(super) name: &'static str,
    pub(super) ty: &'static str,
    pub(super) format: &'static str,
    pub(super) description: &'static str,
    pub(super) priority: i32,
}

impl Column {
    /// A priority-0 column without a format.
    pub(super) const fn new(
        name: &'static str,
        ty: &'static str,
        description: &'static str,
    ) -> Self {
        Column {
            name,
            ty,
            format: "",
            description,
            priority: 0,
        }
    }

    /// The same column, shown only by `kubectl get -o wide`.
    pub(super) const fn wide(self) -> Self {
        Column {
            priority: 1,
            ..self
        }
    }

    /// The same column, marked as holding the object's name (`format: name`).
    pub(super) const fn named(self) -> Self {
        Column {
            format: "name",
            ..self
        }
    }

    /// The wire form; Go's `TableColumnDefinition` has no `omitempty`, so every field is present.
    pub(super) fn to_json(self) -> Value {
        json!({
            "name": self.name,
            "type": self.ty,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// `ObjectMeta.name`'s API documentation, which kube-apiserver uses as the Name column's description.
const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// `ObjectMeta.creationTimestamp`'s API documentation, the Age column's description.
const CREATION_TIMESTAMP_DOC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

pub(super) const NAME: Column = Column::new("Name", "string", NAME_DOC).named();
pub(super) const AGE: Column = Column::new("Age", "string", CREATION_TIMESTAMP_DOC);
pub(super) const CONTAINERS: Column = Column::new(
    "Containers",
    "string",
    "Names of each container in the template.",
)
.wide();
pub(super) const IMAGES: Column = Column::new(
    "Images",
    "string",
    "Images referenced by each container in the template.",
)
.wide();
