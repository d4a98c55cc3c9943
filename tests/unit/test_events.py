from services.events import Event, EventBus


def test_every_subscriber_gets_every_event_in_order():
    bus = EventBus()
    first, second = [], []
    bus.subscribe(first.append)
    bus.subscribe(second.append)
    events = [Event("message.created", {"n": i}, 1) for i in range(3)]
    for event in events:
        bus.publish(event)
    assert first == events and second == events


def test_a_failing_subscriber_does_not_stop_the_others():
    bus = EventBus()
    seen = []

    def broken(event):
        raise RuntimeError("socket gone")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    bus.publish(Event("typing", {}, None))
    assert len(seen) == 1


def test_unsubscribe():
    bus = EventBus()
    seen = []
    unsubscribe = bus.subscribe(seen.append)
    unsubscribe()
    bus.publish(Event("typing", {}, None))
    assert seen == []
