//! The request context: what sae knows about a request, carried in
//! [`http::Extensions`] from the server layers to the handler and to the
//! client layers.

use crate::{Lane, ServiceName, lane};

/// What sae knows about the request being served, stored in the request's
/// [`http::Extensions`] by the server layers. A request without one is in
/// the base lane with no known caller (the lane layer stores nothing then,
/// so such a request allocates no extension map).
///
/// ```
/// use sae_core::{Lane, RequestContext};
///
/// let mut request = http::Request::new(());
/// RequestContext { lane: Some(Lane::new("gray")?), caller: None }
///     .insert_into(request.extensions_mut());
/// let context = RequestContext::from_extensions(request.extensions()).unwrap();
/// assert_eq!(context.lane.as_ref().map(Lane::as_str), Some("gray"));
/// # Ok::<(), sae_core::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The lane of the request; `None` is the base lane.
    pub lane: Option<Lane>,
    /// The calling service, when the caller said.
    pub caller: Option<ServiceName>,
}

impl RequestContext {
    /// The context stored in `extensions`, if a server layer put one there.
    pub fn from_extensions(extensions: &http::Extensions) -> Option<&RequestContext> {
        extensions.get::<RequestContext>()
    }

    /// Stores this context in `extensions`, replacing any earlier one.
    pub fn insert_into(self, extensions: &mut http::Extensions) {
        extensions.insert(self);
    }

    /// The lane an outbound call with these `extensions` carries: the lane
    /// of the context in them when the caller put one there (`lane: None`
    /// then means "send this call in base"), else the lane of the request
    /// this task is serving ([`lane::current`]).
    ///
    /// ```
    /// use sae_core::{Lane, RequestContext, lane};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sae_core::Error> {
    /// let gray = Lane::new("gray")?;
    /// let mut request = http::Request::new(());
    /// let task = lane::scope(Some(gray.clone()), async {
    ///     RequestContext::outbound_lane(request.extensions())
    /// });
    /// assert_eq!(task.await, Some(gray.clone()));
    ///
    /// RequestContext::default().insert_into(request.extensions_mut());
    /// let explicit = lane::scope(Some(gray), async {
    ///     RequestContext::outbound_lane(request.extensions())
    /// });
    /// assert_eq!(explicit.await, None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn outbound_lane(extensions: &http::Extensions) -> Option<Lane> {
        match RequestContext::from_extensions(extensions) {
            Some(context) => context.lane.clone(),
            None => lane::current(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_round_trips_through_extensions_and_is_replaced() {
        let mut extensions = http::Extensions::new();
        assert_eq!(RequestContext::from_extensions(&extensions), None);
        let gray = RequestContext {
            lane: Some(Lane::new("gray").unwrap()),
            caller: Some(ServiceName::new("frontend").unwrap()),
        };
        gray.clone().insert_into(&mut extensions);
        assert_eq!(RequestContext::from_extensions(&extensions), Some(&gray));
        RequestContext::default().insert_into(&mut extensions);
        assert_eq!(
            RequestContext::from_extensions(&extensions),
            Some(&RequestContext::default())
        );
    }
}
