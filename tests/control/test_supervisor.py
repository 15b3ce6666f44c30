import pytest

from control.core.errors import InvalidTransitionError
from control.core.supervisor import POWERED, TRANSITIONS, Mode, Supervisor, Trigger, mermaid_diagram


def walk(sup: Supervisor, *triggers: Trigger) -> None:
    for i, t in enumerate(triggers):
        sup.fire(t, float(i), t.value)


def test_normal_cycle_reaches_idle_with_reasons():
    sup = Supervisor()
    events = [sup.fire(t, float(i), f"because {t.value}") for i, t in enumerate([
        Trigger.PORT_OPENED, Trigger.HANDSHAKEN, Trigger.ARM, Trigger.DIG, Trigger.BUCKET_FULL,
        Trigger.STOW, Trigger.STOWED, Trigger.DRIVE, Trigger.ARRIVED, Trigger.DUMP,
        Trigger.DUMPED])]
    assert [e.mode for e in events][-1] is Mode.IDLE
    assert [e.mode for e in events][:7] == [Mode.HANDSHAKING, Mode.IDLE, Mode.ARMED,
                                            Mode.DIGGING, Mode.FULL, Mode.STOWING, Mode.ARMED]
    assert all(e.reason.startswith("because") for e in events)


def test_invalid_pair_is_a_typed_error_not_a_no_op():
    sup = Supervisor()
    with pytest.raises(InvalidTransitionError) as info:
        sup.fire(Trigger.DIG, 0.0, "dig while disconnected")
    assert info.value.state is Mode.DISCONNECTED and info.value.trigger is Trigger.DIG
    assert sup.mode is Mode.DISCONNECTED


@pytest.mark.parametrize("mode", sorted(POWERED, key=lambda m: m.value))
def test_every_powered_mode_can_stop_fault_estop_and_lose_the_link(mode):
    for trigger, target in ((Trigger.STOP, Mode.IDLE), (Trigger.FAULT, Mode.FAULT),
                            (Trigger.ESTOP, Mode.ESTOP), (Trigger.LINK_LOST, Mode.DISCONNECTED)):
        assert TRANSITIONS[(mode, trigger)] is target


def test_estop_reset_only_goes_to_idle_and_survives_link_loss():
    sup = Supervisor(Mode.ESTOP)
    walk(sup, Trigger.LINK_LOST, Trigger.HANDSHAKEN)
    assert sup.mode is Mode.ESTOP
    sup.fire(Trigger.RESET_ESTOP, 1.0, "reset")
    assert sup.mode is Mode.IDLE
    targets = {dst for (src, _), dst in TRANSITIONS.items() if src is Mode.ESTOP}
    assert POWERED.isdisjoint(targets)


def test_no_transition_into_motion_except_from_armed():
    motion = {Mode.DIGGING, Mode.DRIVING, Mode.DUMPING, Mode.STOWING}
    for (src, _), dst in TRANSITIONS.items():
        if dst in motion and src is not dst:
            assert src in (Mode.ARMED, Mode.FULL), (src, dst)


def test_link_loss_never_lands_in_a_powered_mode():
    for (_, trig), dst in TRANSITIONS.items():
        if trig in (Trigger.LINK_LOST, Trigger.HANDSHAKEN):
            assert dst not in POWERED


def test_diagram_lists_transitions():
    text = mermaid_diagram()
    assert "idle --> armed: arm" in text
